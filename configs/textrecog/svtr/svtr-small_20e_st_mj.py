# SVTR-Small (MMOCR's svtr-small_20e_st_mj.py): svtr-tiny_20e_st_mj.py with wider, deeper stages
# (96 / 192 / 256 wide, 3 + 6 + 6 blocks, 8 local then 7 global).
_base_ = ['svtr-tiny_20e_st_mj.py']

model = dict(encoder=dict(embed_dims=[96, 192, 256], depth=[3, 6, 6], num_heads=[3, 6, 8],
                          mixer_types=['Local'] * 8 + ['Global'] * 7))
