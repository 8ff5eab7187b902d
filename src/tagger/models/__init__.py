"""Networks: plain nn.Modules, free of training concerns."""
