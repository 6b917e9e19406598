"""Loss terms, each a plain function of tensors, named as in the papers.

Images are ``[batch, freq, frames, 1]`` in [-1, 1]; feature maps are
``[batch, h, w, channels]``.  Methods weight these terms in their ``train_step``.
"""
