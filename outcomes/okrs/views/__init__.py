"""Pages of OKRs: ``objectives`` (the board, objectives) and ``key_results`` (a key result's page
and its forms). Reads go through ``outcomes.okrs.selectors``, writes through
``outcomes.okrs.services``; a domain error is shown beside the field it names."""
