//! Google AI Studio (Gemini API) adapter: generateContent / streamGenerateContent?alt=sse.
