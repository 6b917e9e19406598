"""What the training methods share: run folders, pairing, augmentation, judge selection, recipes.

Each module has one job; `soundtransform.methods` builds on them, and no
style-transfer method imports another (Slow and Faster use the classifier's
perceptual network).
"""
