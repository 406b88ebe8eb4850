# ICDAR 2013 Focused Scene Text (1,015 test words, MMOCR's IC13 1015 split), text recognition,
# MMOCR 1.x layout: data/icdar2013/ with the images and textrecog_test.json
# ({"data_list": [{"img_path", "instances": [{"text"}]}]}). Models set the pipeline.
icdar2013_textrecog_data_root = 'data/icdar2013'

icdar2013_textrecog_test = dict(
    type='OCRDataset', data_root=icdar2013_textrecog_data_root, ann_file='textrecog_test.json', test_mode=True,
    pipeline=None)
