package fivenines.model.cman;

import org.xml.sax.Attributes;
import org.xml.sax.InputSource;
import org.xml.sax.Locator;
import org.xml.sax.SAXException;
import org.xml.sax.SAXParseException;
import org.xml.sax.helpers.DefaultHandler;

import javax.xml.XMLConstants;
import javax.xml.parsers.ParserConfigurationException;
import javax.xml.parsers.SAXParserFactory;
import java.io.IOException;
import java.io.StringReader;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Deque;
import java.util.LinkedHashMap;
import java.util.List;

/**
 * Reads XML text into {@link XmlElement}s. SAX rather than DOM because SAX tells where each
 * element is, so that a bad number can be reported with its line. A cluster.conf never needs a
 * DTD, so DOCTYPE declarations are refused outright: no entity can read a file or a URL.
 */
final class XmlReader {
    private XmlReader() {
    }

    static XmlElement read(String xml) throws CmanConfigException {
        if (xml == null || xml.isBlank()) {
            throw new CmanConfigException("the cluster.conf is empty");
        }
        var handler = new TreeBuilder();
        try {
            var factory = SAXParserFactory.newInstance();
            factory.setNamespaceAware(false);
            factory.setValidating(false);
            factory.setXIncludeAware(false);
            factory.setFeature(XMLConstants.FEATURE_SECURE_PROCESSING, true);
            factory.setFeature("http://apache.org/xml/features/disallow-doctype-decl", true);
            factory.setFeature("http://xml.org/sax/features/external-general-entities", false);
            factory.setFeature("http://xml.org/sax/features/external-parameter-entities", false);
            factory.setFeature("http://apache.org/xml/features/nonvalidating/load-external-dtd", false);
            factory.newSAXParser().parse(new InputSource(new StringReader(xml)), handler);
        } catch (SAXParseException e) {
            throw new CmanConfigException("cluster.conf is not well-formed XML at line " + e.getLineNumber()
                + ", column " + e.getColumnNumber() + ": " + e.getMessage());
        } catch (SAXException | IOException e) {
            throw new CmanConfigException("cluster.conf cannot be read: " + e.getMessage());
        } catch (ParserConfigurationException e) {
            throw new IllegalStateException("the JDK's XML parser cannot be configured to refuse DTDs", e);
        }
        if (handler.root == null) {
            throw new CmanConfigException("cluster.conf holds no element");
        }
        return handler.root;
    }

    /** Builds the tree as the parser reports elements, remembering where each start tag ends. */
    private static final class TreeBuilder extends DefaultHandler {
        private final Deque<Open> open = new ArrayDeque<>();
        private Locator locator;
        private XmlElement root;

        /** An element whose children are still being read. */
        private record Open(String name, String path, LinkedHashMap<String, String> attributes,
                            List<XmlElement> children, int line, int column) {
        }

        @Override
        public void setDocumentLocator(Locator locator) {
            this.locator = locator;
        }

        @Override
        public void startElement(String uri, String localName, String qualifiedName, Attributes attributes) {
            var values = new LinkedHashMap<String, String>();
            for (int i = 0; i < attributes.getLength(); i++) {
                values.put(attributes.getQName(i), attributes.getValue(i));
            }
            String parentPath = open.isEmpty() ? "" : open.peek().path();
            open.push(new Open(qualifiedName, parentPath + "/" + qualifiedName, values, new ArrayList<>(),
                locator == null ? -1 : locator.getLineNumber(), locator == null ? -1 : locator.getColumnNumber()));
        }

        @Override
        public void endElement(String uri, String localName, String qualifiedName) {
            Open done = open.pop();
            var element = new XmlElement(done.name(), done.path(), Collections.unmodifiableMap(done.attributes()),
                List.copyOf(done.children()), done.line(), done.column());
            if (open.isEmpty()) {
                root = element;
            } else {
                open.peek().children().add(element);
            }
        }

        @Override
        public void error(SAXParseException exception) throws SAXException {
            throw exception;
        }

        @Override
        public void fatalError(SAXParseException exception) throws SAXException {
            throw exception;
        }
    }
}
