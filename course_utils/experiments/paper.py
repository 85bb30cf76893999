"""The published numbers the experiments are compared with.

He, Zhang, Ren and Sun (2015), "Deep Residual Learning for Image
Recognition", arXiv:1512.03385 (CVPR 2016).
"""

# Table 6: CIFAR-10 test error (%) of the ResNets (option A shortcuts), with
# their parameter counts as printed. ResNet-110 was trained 5 times: 6.43 is
# the best run, 6.61 +/- 0.16 the mean and standard deviation; every other
# depth is one run.
TABLE6 = {
    20: {"params": "0.27M", "error": 8.75},
    32: {"params": "0.46M", "error": 7.51},
    44: {"params": "0.66M", "error": 7.17},
    56: {"params": "0.85M", "error": 6.97},
    110: {"params": "1.7M", "error": 6.43, "mean": 6.61, "std": 0.16, "runs": 5},
    1202: {"params": "19.4M", "error": 7.93},
}

# Table 3: ImageNet validation error (%, 10-crop testing) of ResNet-34 with
# each shortcut option, and of the plain 34-layer network.
TABLE3 = {
    "plain-34": {"top1": 28.54, "top5": 10.02},
    "ResNet-34 A": {"top1": 25.03, "top5": 7.76},
    "ResNet-34 B": {"top1": 24.52, "top5": 7.46},
    "ResNet-34 C": {"top1": 24.19, "top5": 7.40},
}

# Figure 6, left: "The error of plain-110 is higher than 60% and not displayed."
PLAIN110_ERROR_ABOVE = 60.0

# Section 4.2: "trained with a mini-batch size of 128 on two GPUs".
PAPER_GPUS = 2
