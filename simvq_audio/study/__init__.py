"""Studies that train small models to measure a quantizer's behaviour (the codebook-collapse study:
vanilla VQ vs SimVQ over codebook sizes)."""
