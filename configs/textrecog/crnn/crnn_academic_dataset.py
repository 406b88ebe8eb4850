# MMOCR 0.x's CRNN "academic" recipe (trained on MJSynth, tested on the six academic benchmarks), renamed
# crnn_mini-vgg_5e_mj.py in MMOCR 1.x; the same recipe.
_base_ = './crnn_mini-vgg_5e_mj.py'
