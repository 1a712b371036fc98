"""Speech units: encoders, k-means, extraction, the speech vocabulary and packing."""
