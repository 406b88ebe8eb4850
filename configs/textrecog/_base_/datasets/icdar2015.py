# ICDAR 2015 word recognition (2,077 test words; MMOCR's IC15 test set), text recognition, MMOCR 1.x layout:
# data/icdar2015/ with the word images and textrecog_test.json ({"data_list": [{"img_path", "instances":
# [{"text"}]}]}). Models set the pipeline.
icdar2015_textrecog_data_root = 'data/icdar2015'

icdar2015_textrecog_test = dict(
    type='OCRDataset', data_root=icdar2015_textrecog_data_root, ann_file='textrecog_test.json', test_mode=True,
    pipeline=None)
