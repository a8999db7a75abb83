"""Membership-inference attacks and their statistics: per-sample attack scores (`mia.attacks`) and how well
they separate members from non-members, with intervals (`mia.stats`). A leaf shared by the shipped metric
modules (`metrics/`), the privacy audit (`audit/`) and the model card; import from the submodules."""
