# MMOCR's schedule_adadelta_5e.py: Adadelta at lr 1.0, constant, 5 epochs, validation every epoch.
optim_wrapper = dict(type='OptimWrapper', optimizer=dict(type='Adadelta', lr=1.0))
train_cfg = dict(by_epoch=True, max_epochs=5, val_interval=1)
val_cfg = dict()
test_cfg = dict()
param_scheduler = [dict(type='ConstantLR', factor=1.0, by_epoch=True)]
