"""The math a student reads: activations, losses, layers, the network, gradcheck.

Nothing here imports the rest of gdlab: no training, no files, no pictures.
"""
