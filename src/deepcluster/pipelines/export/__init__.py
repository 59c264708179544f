"""Results to take away: the final clusters, features, centroids, backbone weights and a montage."""
