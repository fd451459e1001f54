"""PFE building blocks: uncertainty module, frozen-backbone net, MLS loss/score, template fusion."""
