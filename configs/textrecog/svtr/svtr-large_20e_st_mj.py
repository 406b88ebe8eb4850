# SVTR-Large (MMOCR's svtr-large_20e_st_mj.py): the STN rectifies to 48 x 160; the encoder (192 / 256 / 512 wide,
# 3 + 9 + 9 blocks, 10 local then 11 global) pools to 40 columns of 384 features; half the learning rate.
_base_ = ['svtr-tiny_20e_st_mj.py']

model = dict(
    preprocessor=dict(output_image_size=(48, 160)),
    encoder=dict(img_size=[48, 160], max_seq_len=40, out_channels=384, embed_dims=[192, 256, 512], depth=[3, 9, 9],
                 num_heads=[6, 8, 16], mixer_types=['Local'] * 10 + ['Global'] * 11),
    decoder=dict(in_channels=384))
train_dataloader = dict(batch_size=64)
optim_wrapper = dict(optimizer=dict(lr=2.5e-4))
