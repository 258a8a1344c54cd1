"""The streaming run that joins the model, the trackers and the data layer; the command line."""
