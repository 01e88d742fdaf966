"""One module per explorer view; each is a `panel.viewable.Viewer` over the shared `ExplorerState`."""
