# Registry figures in Chinese are grouped by thousands with a comma (7,609 吨), as the Bureau's
# published notices write them; Django's zh_Hans default groups by ten-thousands with no separator.
# Everything not set here falls back to Django's own zh_Hans formats.
THOUSAND_SEPARATOR = ","
NUMBER_GROUPING = 3
