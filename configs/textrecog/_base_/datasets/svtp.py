# SVT-Perspective (645 test words), text recognition,
# MMOCR 1.x layout: data/svtp/ with the images and textrecog_test.json
# ({"data_list": [{"img_path", "instances": [{"text"}]}]}). Models set the pipeline.
svtp_textrecog_data_root = 'data/svtp'

svtp_textrecog_test = dict(
    type='OCRDataset', data_root=svtp_textrecog_data_root, ann_file='textrecog_test.json', test_mode=True,
    pipeline=None)
