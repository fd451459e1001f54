"""FaceNet networks, triplet loss and offline triplet lists (MindSpore)."""
