"""Training the Thai plate reader (``python -m training``; ``make train-reader``).

A development step, never run on a host: it needs PyTorch (requirements/train.txt). It reads
``../shared/thai-plates`` (CC BY 4.0, Roboflow "Thai License Plate Character Recognition" v2 by
thanathorn-msskh), holds out a split by plate, trains the CNN in :mod:`training.model`, prints
the held-out figures and writes the ONNX file that :mod:`edge_agent.vision.thai_model` runs.
"""
