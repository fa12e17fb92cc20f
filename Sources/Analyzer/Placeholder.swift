public enum AnalyzerPlaceholder {}
