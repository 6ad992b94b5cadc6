"""The crawl stage: fetch each planned URL politely and safely, extract its text, store it as a document.

``fetching`` is the HTTP side (robots.txt, rate limits, host slots, URL safety), ``extraction`` turns HTML
into text and metadata, ``sources`` holds a crawler per kind of source and the dispatcher that picks one.
The modules here are what the sources share: the crawl context, the stored document, the report, the
task-level service.
"""
