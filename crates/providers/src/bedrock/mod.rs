//! Amazon Bedrock adapter: Converse / ConverseStream, SigV4 or bearer API keys, binary event stream.
