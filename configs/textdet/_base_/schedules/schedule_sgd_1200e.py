# The DBNet schedule (MMOCR's schedule_sgd_1200e.py): 1200 epochs of SGD (lr 0.007, momentum 0.9) with a poly
# learning-rate decay (power 0.9), validation every 20 epochs.
optim_wrapper = dict(type='OptimWrapper', optimizer=dict(type='SGD', lr=0.007, momentum=0.9, weight_decay=0.0001))
train_cfg = dict(by_epoch=True, max_epochs=1200, val_interval=20)
val_cfg = dict()
test_cfg = dict()
param_scheduler = [dict(type='PolyLR', power=0.9, eta_min=1e-7, end=1200, by_epoch=True)]
