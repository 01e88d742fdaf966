"""Training logic of OJALA: the masking game, losses, object sampling, domain adaptation."""
