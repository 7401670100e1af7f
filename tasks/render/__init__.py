"""Clinical 12-lead paper-ECG rendering: `Renderer(settings).render(...)` -> PNG bytes + pixel geometry."""
from tasks.render.layouts import STANDARD_LEADS, layout_leads
from tasks.render.renderer import RENDER_VERSION, RenderedPage, Renderer, RenderError, render_key

__all__ = [
    "RENDER_VERSION",
    "STANDARD_LEADS",
    "RenderError",
    "RenderedPage",
    "Renderer",
    "layout_leads",
    "render_key",
]
