"""The masked autoencoder: the ViT and its checkpoint format, and its pretraining on random-policy frames."""
