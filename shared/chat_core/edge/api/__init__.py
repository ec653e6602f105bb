"""One module per function: its routes, each parsing the request (`edge.validation`), calling one operation
(`ops`) and rendering its answer (`edge.views`). A function's entrypoint runs its module's `app`."""
