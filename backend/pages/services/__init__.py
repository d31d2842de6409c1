"""Services for pages: the only code that changes a page on an AI feature's behalf.

`ai_service` holds the single-call features (draft, summary, meta description, rewrite);
`advanced_ai_service` the multi-step and checked ones (long-form draft, translation, title
variants). Both reach a model only through the registry's facade, `backend.integrations.ai`.
"""
