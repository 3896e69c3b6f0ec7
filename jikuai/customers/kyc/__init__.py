"""Real-name verification (实名认证): ID card OCR, face comparison, image validation, manual review."""
