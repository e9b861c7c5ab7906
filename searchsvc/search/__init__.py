"""Search: request types, the query language (parsed without Whoosh) and its Whoosh queries, the service
over index views and caches, ranking, facets, highlights and suggestions."""
