"""What the answers mean: report queries and rollups, comment themes."""
