"""One module per explorer view; each is a `panel.viewable.Viewer` over the shared `ExplorerState`."""

import param

__all__ = ["TabView"]


class TabView(param.Parameterized):
    """A view that lives in a tab: while hidden it only notes that it is stale and refreshes
    when its tab is shown, so a click does not pay for views nobody is looking at."""

    active = param.Boolean(default=False)

    def __init__(self, **params):
        super().__init__(**params)
        self._stale = True
        self.param.watch(lambda e: e.new and self._stale and self._refresh_now(), "active")

    def refresh(self, *_):
        if self.active:
            self._refresh_now()
        else:
            self._stale = True

    def _refresh_now(self):
        self._stale = False
        self.update()

    def update(self):
        raise NotImplementedError
