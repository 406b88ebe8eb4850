# ICDAR 2015 Incidental Scene Text, text detection (MMOCR 1.x layout). Prepare it with
#   python tools/dataset_converters/textdet/icdar2015.py data/icdar2015
# from data/icdar2015/{imgs,annotations}/{train,test}/ (img_N.jpg, gt_img_N.txt); it writes
# textdet_train.json / textdet_test.json next to them. Models set the pipelines of these datasets (as MMOCR's
# configs do: icdar2015_textdet_train.pipeline = train_pipeline, then the dataloaders).
icdar2015_textdet_data_root = 'data/icdar2015'

icdar2015_textdet_train = dict(
    type='OCRDataset', data_root=icdar2015_textdet_data_root, ann_file='textdet_train.json',
    filter_cfg=dict(filter_empty_gt=True, min_size=32), pipeline=None)

icdar2015_textdet_test = dict(
    type='OCRDataset', data_root=icdar2015_textdet_data_root, ann_file='textdet_test.json', test_mode=True,
    pipeline=None)
