"""Training and evaluating reasoners: the loop (:mod:`.loop`), metrics
(:mod:`.metrics`, numpy), run evaluation (:mod:`.evaluate`), data-parallel
set-up (:mod:`.distributed`), the allocator policy (:mod:`.allocator`) and
the published scores (:mod:`.published_scores`).

Importing the package is light; each module imports what it needs.
"""
