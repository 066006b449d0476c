"""What an encoder looks at: Grad-CAM heat maps of the abnormal logit of an encoder with its
probe folded on top, the panel that compares models, and a faithfulness number (ROAD) per
model (``medaug explain``)."""
