# The PP-OCRv4 mobile detector in the folded (deploy) form of PaddleOCR's inference weights: evaluate or fine-tune
# the imported official model: import_ppocr_weights('ppocrv4_mobile_det', out_file='work_dirs/ppocrv4_mobile_det.pth')
# (visioncraft.apis; docs/ppocr.md), then
#   visioncraft test configs/ppocr/ppocrv4_mobile_det_deploy_icdar2015.py work_dirs/ppocrv4_mobile_det.pth
# Each re-parameterisable conv is one conv with bias here (no BatchNorm), which trains as it is.
_base_ = ['./ppocrv4_mobile_det_500e_icdar2015.py']
model = dict(backbone=dict(deploy=True))
