# MJSynth (Jaderberg et al., 9 M synthetic word images), text recognition, MMOCR 1.x layout: data/mjsynth/ with the
# images and textrecog_train.json ({"data_list": [{"img_path", "instances": [{"text"}]}]}; MMOCR's dataset
# preparer writes it). An LMDB copy reads with type='RecogLMDBDataset'. Models set the pipeline.
mjsynth_textrecog_data_root = 'data/mjsynth'

mjsynth_textrecog_train = dict(
    type='OCRDataset', data_root=mjsynth_textrecog_data_root, ann_file='textrecog_train.json', pipeline=None)
