"""What a user looks at after a run: outliers, near-duplicate groups, the HTML report and a folder per cluster."""
