"""The field's protocols for frozen features, the metrics of a clustering against labels, and the plots."""
