# CUTE80 (288 curved test words), text recognition,
# MMOCR 1.x layout: data/cute80/ with the images and textrecog_test.json
# ({"data_list": [{"img_path", "instances": [{"text"}]}]}). Models set the pipeline.
cute80_textrecog_data_root = 'data/cute80'

cute80_textrecog_test = dict(
    type='OCRDataset', data_root=cute80_textrecog_data_root, ann_file='textrecog_test.json', test_mode=True,
    pipeline=None)
