# MMDetection 2.x's name of faster-rcnn_r50_fpn_1x_voc0712.py; the same recipe.
_base_ = './faster-rcnn_r50_fpn_1x_voc0712.py'
# Run under this 2.x name, `tools/test.py ... --show-dir DIR` writes the pictures to ./DIR as the 2.x guides say
# (a bare DIR goes under WORK_DIR/TIMESTAMP/ with the 3.x name, as MMDetection 3.x does).
show_dir_in_cwd = True
