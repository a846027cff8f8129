"""Answer extraction shared by several tasks: the cascades and postprocessors of published scripts."""
