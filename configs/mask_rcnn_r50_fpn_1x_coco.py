# The MMDetection 2.x guide's "configs/mask_rcnn_r50_fpn_1x_coco.py" (its dist_test / slurm_train examples drop the
# mask_rcnn/ folder): the Mask R-CNN R-50-FPN 1x COCO recipe of configs/mask_rcnn/.
_base_ = './mask_rcnn/mask-rcnn_r50_fpn_1x_coco.py'
