# The MMDetection 2.x guide's "configs/mask_rcnn_r50_fpn_1x_coco.py" (its dist_test / slurm_train examples drop the
# mask_rcnn/ folder): the Mask R-CNN R-50-FPN 1x COCO recipe of configs/mask_rcnn/.
_base_ = './mask_rcnn/mask-rcnn_r50_fpn_1x_coco.py'
# Run under this 2.x name, `tools/test.py ... --show-dir DIR` writes the pictures to ./DIR as the 2.x guides say
# (a bare DIR goes under WORK_DIR/TIMESTAMP/ with the 3.x name, as MMDetection 3.x does).
show_dir_in_cwd = True
