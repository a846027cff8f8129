"""Answer extraction shared by several tasks: published scripts' cascades and postprocessors."""
