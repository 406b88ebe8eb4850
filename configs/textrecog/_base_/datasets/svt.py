# SVT (Street View Text, 647 test words), text recognition,
# MMOCR 1.x layout: data/svt/ with the images and textrecog_test.json
# ({"data_list": [{"img_path", "instances": [{"text"}]}]}). Models set the pipeline.
svt_textrecog_data_root = 'data/svt'

svt_textrecog_test = dict(
    type='OCRDataset', data_root=svt_textrecog_data_root, ann_file='textrecog_test.json', test_mode=True,
    pipeline=None)
