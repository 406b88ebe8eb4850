# SVTR-Base (MMOCR's svtr-base_20e_st_mj.py): the STN rectifies to 48 x 160; the encoder (128 / 256 / 384 wide,
# 3 + 6 + 9 blocks, 8 local then 10 global) pools to 40 columns of 256 features.
_base_ = ['svtr-tiny_20e_st_mj.py']

model = dict(
    preprocessor=dict(output_image_size=(48, 160)),
    encoder=dict(img_size=[48, 160], max_seq_len=40, out_channels=256, embed_dims=[128, 256, 384], depth=[3, 6, 9],
                 num_heads=[4, 8, 12], mixer_types=['Local'] * 8 + ['Global'] * 10),
    decoder=dict(in_channels=256))
train_dataloader = dict(batch_size=128)
